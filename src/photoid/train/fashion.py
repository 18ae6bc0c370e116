"""The sanity check on Fashion-MNIST: does a margin loss cluster better than the softmax
penultimate layer? A small CNN → the same linear + BatchNorm embedding head → L2 norm is
trained once per loss; each embedding of test images is scored by MAP@R and precision@1
(leave-one-out, Musgrave et al. 2020) and by the cosine silhouette (cluster tightness), and
drawn in 2-D (PCA) as a PNG.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from photoid.data.fashion_mnist import CLASSES, load_fashion_mnist
from photoid.metrics import map_at_r, precision_at_1
from photoid.models.embedding import EmbeddingHead


@dataclass(frozen=True)
class FashionResult:
    """Scores of one loss on ``n_test`` test images."""

    loss: str
    map_at_r: float
    precision_at_1: float
    silhouette: float
    seconds: float
    plot: str | None


class SmallCNN(nn.Module):
    """``(B, 1, 28, 28) -> (B, 64)``: three conv blocks and global average pooling."""

    def __init__(self):
        super().__init__()

        def block(i: int, o: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2)
            )

        self.body = nn.Sequential(block(1, 16), block(16, 32), block(32, 64))
        self.num_features = 64

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mean(dim=(2, 3))


def run_check(
    folder: str | Path,
    out_dir: str | Path,
    *,
    losses=("softmax", "arcface"),
    n_train: int = 10000,
    n_test: int = 2000,
    epochs: int = 2,
    dim: int = 64,
    seed: int = 0,
    log=print,
) -> list[FashionResult]:
    """Train and score one model per loss; writes ``fashion_mnist.json`` and one
    ``embedding_<loss>.png`` per loss under ``out_dir``."""
    from photoid.losses import create_loss

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    x_train, y_train = load_fashion_mnist(folder, "train")
    x_test, y_test = load_fashion_mnist(folder, "test")
    rng = np.random.default_rng(seed)
    tr = rng.choice(len(x_train), size=min(n_train, len(x_train)), replace=False)
    te = rng.choice(len(x_test), size=min(n_test, len(x_test)), replace=False)
    xt, yt = _tensor(x_train[tr]), torch.as_tensor(y_train[tr])
    xe, ye = _tensor(x_test[te]), y_test[te]
    results = []
    for name in losses:
        started = time.perf_counter()
        torch.manual_seed(seed)
        body = SmallCNN()
        head = EmbeddingHead(body.num_features, dim)
        loss_fn = create_loss(name, num_classes=len(CLASSES), embedding_dim=dim)
        params = [*body.parameters(), *head.parameters(), *loss_fn.parameters()]
        optimizer = torch.optim.Adam(params, lr=2e-3)
        gen = torch.Generator().manual_seed(seed)
        for epoch in range(epochs):
            body.train(), head.train()
            order = torch.randperm(len(xt), generator=gen)
            total = 0.0
            for start in range(0, len(order) - 127, 128):
                idx = order[start : start + 128]
                emb = head(body(xt[idx]))
                if name != "softmax":
                    emb = nn.functional.normalize(emb, dim=1)
                loss = loss_fn(emb, yt[idx])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += float(loss.detach())
            log(f"fashion-mnist {name}: epoch {epoch} loss {total / (len(order) // 128):.4f}")
        body.eval(), head.eval()
        with torch.no_grad():
            emb = nn.functional.normalize(head(body(xe)), dim=1).numpy()
        results.append(_score(name, emb, ye, time.perf_counter() - started, out))
        log(
            f"fashion-mnist {name}: MAP@R {results[-1].map_at_r:.4f}  precision@1 "
            f"{results[-1].precision_at_1:.4f}  silhouette {results[-1].silhouette:.4f}"
        )
    (out / "fashion_mnist.json").write_text(
        "\n".join(json.dumps(asdict(r), sort_keys=True) for r in results) + "\n"
    )
    return results


def _tensor(images: np.ndarray) -> torch.Tensor:
    return ((torch.as_tensor(images, dtype=torch.float32) / 255.0 - 0.286) / 0.353).unsqueeze(1)


def _score(
    name: str, emb: np.ndarray, labels: np.ndarray, seconds: float, out: Path
) -> FashionResult:
    from sklearn.metrics import silhouette_score

    sim = emb @ emb.T
    plot = _plot(name, emb, labels, out / f"embedding_{name}.png")
    return FashionResult(
        loss=name,
        map_at_r=map_at_r(sim, labels, labels, exclude_self=True),
        precision_at_1=precision_at_1(sim, labels, labels, exclude_self=True),
        silhouette=float(silhouette_score(emb, labels, metric="cosine")),
        seconds=seconds,
        plot=plot,
    )


def _plot(name: str, emb: np.ndarray, labels: np.ndarray, path: Path) -> str | None:
    """2-D PCA of the unit embeddings, coloured by class; None when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None  # the figures are still in fashion_mnist.json
    centred = emb - emb.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    xy = centred @ vt[:2].T
    fig, ax = plt.subplots(figsize=(6, 6))
    for c, label in enumerate(CLASSES):
        m = labels == c
        ax.scatter(xy[m, 0], xy[m, 1], s=4, label=label)
    ax.set_title(f"Fashion-MNIST test embeddings, {name} (PCA)")
    ax.legend(markerscale=3, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return str(path)
