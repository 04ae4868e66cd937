#!/usr/bin/python3
"""torch_train.py MODEL THREADS EPOCHS - the same training work as
bench_train's `epoch` mode, in PyTorch 1.13 (Debian's python3-torch):
Fashion-MNIST preloaded as a normalized float tensor, batch 128, SGD with
momentum 0.9 and weight decay 1e-4, a fresh shuffle per epoch. Prints the
best epoch time as `epoch_seconds S`."""
import gzip
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DIR = "/usr/share/datasets/fashion-mnist/"


def load(kind):
    with gzip.open(f"{DIR}{kind}-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(f"{DIR}{kind}-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    x = x.astype(np.float32) / 255.0
    return torch.tensor((x - x.mean()) / x.std()), torch.tensor(y.astype(np.int64))


def model(name):
    if name == "lenet_300_100":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 100),
                             nn.ReLU(), nn.Linear(100, 10))
    if name == "lenet5":
        return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                             nn.Linear(84, 10))
    if name == "conv2":
        return nn.Sequential(nn.Conv2d(1, 64, 3, padding=1), nn.ReLU(),
                             nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(64 * 14 * 14, 256), nn.ReLU(),
                             nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    raise SystemExit(f"unknown model {name}")


def main():
    name, threads, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    x, y = load("train")
    m = model(name)
    opt = torch.optim.SGD(m.parameters(), lr=0.1 if name == "lenet_300_100" else 0.01,
                          momentum=0.9, weight_decay=1e-4)
    best = 1e30
    for epoch in range(epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(len(y))
        total = 0.0
        for i in range(0, len(y), 128):
            idx = perm[i:i + 128]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(m(x[idx]), y[idx])
            loss.backward()
            opt.step()
            total += loss.item()
        dt = time.perf_counter() - t0
        print(f"  epoch {epoch + 1}: {dt:.3f} s (loss {total / (len(y) / 128):.4f})",
              file=sys.stderr)
        best = min(best, dt)
    print(f"epoch_seconds {best:.4f}")


if __name__ == "__main__":
    main()
