#!/usr/bin/env python
"""Benchmark: `count_in_windows` (rounds counted one at a time into bytes) against the all-rounds-at-once form it
replaced (int16 per score and round, int64 sum), side by side in one run: median time of several repetitions after
warm-up, and on a GPU the peak memory above the inputs. Prints the ratios.
    python tools/bench_count_in_windows.py [--device cuda] [--b 8 --h 8 --rounds 4 --n 4096 --bucket 64]"""
import argparse, statistics, time
import torch
from reformer_rigl.reformer.attention import count_in_windows, gather_positions, look_one_back, sort_by_bucket

def all_rounds_at_once(q_pos, k_pos, chunk_of):
    "The previous form: every round's chunk difference materialised at once, then summed."
    n_chunks = q_pos.shape[-2]
    by_pos = chunk_of.to(torch.int16).transpose(-1, -2)
    q_chunk, k_chunk = gather_positions(by_pos, q_pos), gather_positions(by_pos, k_pos)
    return (((q_chunk[..., :, None, :] - k_chunk[..., None, :, :]) % n_chunks) <= 1).sum(-1)

def measure(fn, args, device, reps):
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == 'cuda' else (lambda: None)
    for _ in range(2): fn(*args)
    times = []
    for _ in range(reps):
        sync(); t0 = time.perf_counter(); fn(*args); sync(); times.append(time.perf_counter() - t0)
    peak = None
    if device.type == 'cuda':
        sync(); torch.cuda.reset_peak_memory_stats(device); base = torch.cuda.memory_allocated(device)
        out = fn(*args); sync(); peak = (torch.cuda.max_memory_allocated(device) - base) / 2**20; del out
    return statistics.median(times), peak

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--device', default='cpu'); p.add_argument('--b', type=int, default=2); p.add_argument('--h', type=int, default=4)
    p.add_argument('--rounds', type=int, default=4); p.add_argument('--n', type=int, default=2048); p.add_argument('--bucket', type=int, default=64)
    p.add_argument('--reps', type=int, default=5)
    a = p.parse_args(); device = torch.device(a.device)
    g = torch.Generator().manual_seed(0)
    buckets = torch.randint(0, a.n // a.bucket, (a.b, a.h, a.rounds, a.n), generator=g).to(device)
    order, ranks = sort_by_bucket(buckets)
    q_pos = order.unflatten(-1, (a.n // a.bucket, a.bucket)); k_pos = look_one_back(q_pos)
    args = (q_pos, k_pos, ranks // a.bucket)
    assert torch.equal(count_in_windows(*args), all_rounds_at_once(*args).to(torch.uint8))
    scores = a.b * a.h * a.rounds * a.n * 2 * a.bucket
    print(f"{device}: b={a.b} h={a.h} rounds={a.rounds} n={a.n} bucket={a.bucket}: {scores / 1e6:.1f} M scores "
          f"(a float32 score tensor: {scores * 4 / 2**20:.0f} MiB); median of {a.reps} after 2 warm-up calls")
    new, old = measure(count_in_windows, args, device, a.reps), measure(all_rounds_at_once, args, device, a.reps)
    print(f"  time   one round at a time {new[0] * 1e3:8.1f} ms   all at once {old[0] * 1e3:8.1f} ms   ratio {new[0] / old[0]:.2f}")
    if new[1] is not None:
        print(f"  peak   one round at a time {new[1]:8.0f} MiB  all at once {old[1]:8.0f} MiB  ratio {new[1] / old[1]:.2f}")

if __name__ == '__main__': main()
