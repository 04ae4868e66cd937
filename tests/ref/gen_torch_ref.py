#!/usr/bin/python3
"""Generates tests/ref/*.ref: reference values from PyTorch for the C tests.

For a few architectures, builds the same network in PyTorch (same layer
names, same shapes, CIFAR-ResNet option-A shortcuts), fills it with seeded
random weights, and records: input, labels, every parameter, logits, loss,
every parameter gradient of one training-mode forward/backward, and the
losses of three SGD steps (lr 0.01, momentum 0.9, Nesterov off, weight decay 5e-4).
The C test loads the parameters by name and must reproduce the rest.

Run with Debian's python3-torch:  /usr/bin/python3 tests/ref/gen_torch_ref.py
"""
import struct
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = Path(__file__).resolve().parent


class LeNet5(nn.Module):
    def __init__(self, c, classes):
        super().__init__()
        self.conv1 = nn.Conv2d(c, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.LazyLinear(120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = x.flatten(1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.pad = (cout - cin) // 2
        self.stride = stride

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        sc = x
        if self.stride != 1 or self.pad:
            sc = F.pad(x[:, :, ::self.stride, ::self.stride],
                       (0, 0, 0, 0, self.pad, self.pad))
        return F.relu(out + sc)


class ResNet(nn.Module):
    def __init__(self, n, c, classes):
        super().__init__()
        self.conv1 = nn.Conv2d(c, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        width, cin = 16, 16
        for stage in range(3):
            blocks = []
            for b in range(n):
                stride = 2 if stage > 0 and b == 0 else 1
                blocks.append(Block(cin, width, stride))
                cin = width
            setattr(self, f"layer{stage + 1}", nn.Sequential(*blocks))
            width *= 2
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(x.mean(dim=(2, 3)))


class LeNet300(nn.Module):
    def __init__(self, inputs, classes):
        super().__init__()
        self.fc1 = nn.Linear(inputs, 300)
        self.fc2 = nn.Linear(300, 100)
        self.fc3 = nn.Linear(100, classes)

    def forward(self, x):
        x = x.flatten(1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


def write(path, records):
    with open(path, "wb") as f:
        f.write(b"SHREF001")
        f.write(struct.pack("<I", len(records)))
        for name, arr in records:
            arr = np.ascontiguousarray(arr, dtype=np.float32)
            nb = name.encode()
            f.write(struct.pack("<I", len(nb)) + nb)
            f.write(struct.pack("<I", arr.ndim))
            f.write(struct.pack(f"<{arr.ndim}I", *arr.shape))
            f.write(arr.tobytes())


def make(arch, model, shape, classes, batch, seed):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x = torch.tensor(rng.standard_normal((batch,) + shape), dtype=torch.float32)
    y = torch.tensor(rng.integers(0, classes, batch), dtype=torch.int64)
    model.eval()
    model(x)  # materialize lazy layers (eval: running stats untouched)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("weight") and p.dim() > 1:
                fan_in = p[0].numel()
                p.copy_(torch.tensor(rng.standard_normal(p.shape) * np.sqrt(2.0 / fan_in)))
            elif "bn" in name:
                p.copy_(torch.tensor(rng.uniform(0.5, 1.5, p.shape) if name.endswith("weight")
                                     else rng.uniform(-0.2, 0.2, p.shape)))
            else:
                p.copy_(torch.tensor(rng.uniform(-0.1, 0.1, p.shape)))
    records = [("input", x.numpy()), ("labels", y.numpy().astype(np.float32))]
    for name, p in model.named_parameters():
        records.append(("param:" + name, p.detach().numpy().copy()))
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    losses = []
    for step in range(3):
        opt.zero_grad()
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        if step == 0:
            records.append(("logits", logits.detach().numpy()))
            records.append(("loss", np.array([loss.item()])))
            for name, p in model.named_parameters():
                records.append(("grad:" + name, p.grad.numpy().copy()))
        losses.append(loss.item())
        opt.step()
    records.append(("losses", np.array(losses)))
    for name, b in model.named_buffers():
        if "running" in name:
            records.append(("buffer:" + name, b.numpy().copy()))
    write(OUT / f"{arch}.ref", records)
    print(f"{arch}: loss {losses}")


def main():
    torch.use_deterministic_algorithms(True)
    make("lenet_300_100", LeNet300(1 * 12 * 12, 10), (1, 12, 12), 10, 8, 1)
    make("lenet5", LeNet5(1, 10), (1, 28, 28), 10, 6, 2)
    make("resnet20", ResNet(3, 3, 10), (3, 16, 16), 10, 6, 3)
    return 0


if __name__ == "__main__":
    sys.exit(main())
