"""PyTorch side of `cargo bench --bench model`: the same ResNet1d, timed on request.

Written for this project from the architecture of Ribeiro et al. (stem conv + batch norm, one
residual block per (filters, length) entry with dropout after each ReLU, flatten, linear), so
that the Rust bench can time candle and PyTorch side by side in one run on the same machine.

Arguments: [threads] [dropout rate]  (default 2 intra-op threads, dropout 0.5: Ribeiro's).

Protocol (one line each, on stdin / stdout):
  start-up                 -> "ready <torch version> <intra-op threads>"  or  "error <reason>"
  "<batch> <iters>"        -> "<seconds>" for <iters> forward passes of a (batch, 12, 4096)
                              input, eval mode, no autograd
  "fwdbwd <batch> <iters>" -> "<seconds>" for <iters> training-mode forward passes (batch
                              statistics, dropout) + BCE-with-logits loss + backward
  "train <batch> <iters>"  -> "<seconds>" for <iters> training steps: the same, then an AdamW
                              step (lr 1e-3, weight decay 1e-2) with the gradients zeroed first
  "quit" or EOF            -> exit
"""

import sys
import time


def padding(downsample, kernel_size):
    return max(0, (kernel_size - downsample + 1) // 2)


def main():
    try:
        import torch
        from torch import nn
    except Exception as e:  # the bench prints this and skips the PyTorch rows
        print(f"error cannot import torch: {e}", flush=True)
        return

    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    dropout = float(sys.argv[2]) if len(sys.argv) > 2 else 0.5
    torch.set_num_threads(threads)

    class ResBlock1d(nn.Module):
        def __init__(self, f_in, f_out, downsample, k):
            super().__init__()
            self.dropout1 = nn.Dropout(dropout)
            self.dropout2 = nn.Dropout(dropout)
            self.conv1 = nn.Conv1d(f_in, f_out, k, padding=padding(1, k), bias=False)
            self.bn1 = nn.BatchNorm1d(f_out)
            self.conv2 = nn.Conv1d(
                f_out, f_out, k, stride=downsample, padding=padding(downsample, k), bias=False
            )
            self.bn2 = nn.BatchNorm1d(f_out)
            skip = []
            if downsample > 1:
                skip.append(nn.MaxPool1d(downsample, stride=downsample))
            if f_in != f_out:
                skip.append(nn.Conv1d(f_in, f_out, 1, bias=False))
            self.skip = nn.Sequential(*skip)

        def forward(self, x, y):
            y = self.skip(y)
            x = self.dropout1(torch.relu(self.bn1(self.conv1(x))))
            x = self.conv2(x) + y
            y = x
            return self.dropout2(torch.relu(self.bn2(x))), y

    class ResNet1d(nn.Module):
        def __init__(self, leads=12, length=4096, blocks=((64, 4096), (128, 1024), (196, 256),
                                                          (256, 64), (320, 16)), k=17, n_out=5):
            super().__init__()
            f0, l0 = blocks[0]
            self.conv1 = nn.Conv1d(leads, f0, k, padding=padding(length // l0, k), bias=False,
                                   stride=length // l0)
            self.bn1 = nn.BatchNorm1d(f0)
            res = []
            f_in, l_in = f0, l0
            for f, l in blocks:
                res.append(ResBlock1d(f_in, f, l_in // l, k))
                f_in, l_in = f, l
            self.res = nn.ModuleList(res)
            self.lin = nn.Linear(f_in * l_in, n_out)

        def forward(self, x):
            x = self.bn1(self.conv1(x))
            y = x
            for block in self.res:
                x, y = block(x, y)
            return self.lin(x.flatten(1))

    torch.manual_seed(0)
    model = ResNet1d()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    loss_fn = nn.BCEWithLogitsLoss()
    print(f"ready {torch.__version__} {torch.get_num_threads()}", flush=True)
    inputs = {}
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        mode = "forward" if len(words) == 2 else words[0]
        batch, iters = int(words[-2]), int(words[-1])
        x = inputs.setdefault(batch, torch.randn(batch, 12, 4096) * 0.5)
        targets = (torch.rand(batch, 5) < 0.3).float()
        if mode == "forward":
            model.eval()
            with torch.inference_mode():
                start = time.perf_counter()
                for _ in range(iters):
                    model(x)
                elapsed = time.perf_counter() - start
        else:
            model.train()
            start = time.perf_counter()
            for _ in range(iters):
                if mode == "train":
                    optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(model(x), targets)
                loss.backward()
                if mode == "train":
                    optimizer.step()
                else:
                    model.zero_grad(set_to_none=True)
            elapsed = time.perf_counter() - start
        print(f"{elapsed:.9f}", flush=True)


if __name__ == "__main__":
    main()
