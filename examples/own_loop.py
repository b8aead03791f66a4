"""Secure aggregation inside your own PyTorch FedAvg loop (docs/fl.md prints this file).

scikit-learn's digits, 8 clients, one of them dropping every round; SecAgg+ sums the
updates; ten rounds of FedAvg. Run from the checkout (``fl`` is not installed with
secagg): ``PYTHONPATH=. python examples/own_loop.py``.
"""

import numpy as np
import torch
from sklearn.datasets import load_digits

from fl import DropStage, SecureAggregator, flatten, restore

X, y = load_digits(return_X_y=True)
X, y = torch.tensor(X / 16, dtype=torch.float32), torch.tensor(y)
order = np.random.default_rng(0).permutation(1500)  # the rest is the test set
shards = np.array_split(order, 8)  # 8 clients
model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
agg = SecureAggregator("secagg+", clip=0.5)  # or PlainAggregator(), "secagg", "paillier"

for rnd in range(1, 11):
    start = flatten(model, include_buffers=False)  # the global model, float32
    deltas, counts = [], []
    for idx in shards:  # local training, one epoch of SGD per client
        restore(model, start, include_buffers=False)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for batch in torch.split(torch.from_numpy(idx), 16):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(X[batch]), y[batch]).backward()
            opt.step()
        deltas.append(flatten(model, include_buffers=False) - start)
        counts.append(len(idx))
    # client 3 vanished before uploading: the others' weighted mean still arrives
    result = agg.aggregate(deltas, counts, dropouts={3: DropStage.MASKED_INPUT}, round_number=rnd)
    restore(model, start + result.mean, include_buffers=False)
    accuracy = (model(X[1500:]).argmax(1) == y[1500:]).float().mean().item()
    m = result.metrics
    print(f"round {rnd}: accuracy {accuracy:.3f}, {m.survivors} survivors, "
          f"client {m.client_crypto_ms:.1f} ms, server {m.server_crypto_ms:.1f} ms")
