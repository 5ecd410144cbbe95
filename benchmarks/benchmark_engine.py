"""
Throughput and peak memory of the bgrem engine (BGRemBackground) on this
machine.

Every configuration runs in a fresh Python process, so the reported peak
resident memory (``ru_maxrss``) is that of one image of that size, TensorFlow
included.  The first (warm-up) call of each process is not timed: it builds
the network and traces the prediction function.

Usage::

    python benchmarks/benchmark_engine.py                  # the standard table
    python benchmarks/benchmark_engine.py --sizes 1024 --steps 1 --batch-sizes 1 4 8 16
    python benchmarks/benchmark_engine.py --json results.json

The network is the default architecture with random weights (the speed does
not depend on the weights); ``--model`` times a shipped or saved model instead.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

_CHILD = r'''
import json, resource, sys, time
import numpy as np
from bgrem import BGRemBackground, load_model
from bgrem.model.card import ModelCard
from bgrem.model.registry import BGRemModel

size, steps, batch, tile, keep, model_name, repeats = sys.argv[1:8]
size, steps, batch, tile, keep, repeats = map(int, (size, steps, batch, tile, keep, repeats))
if model_name == 'random':
    from bgrem.model.network import DEFAULT_ARCHITECTURE, build_network
    model = BGRemModel(build_network(**DEFAULT_ARCHITECTURE), ModelCard('random', 'none'))
else:
    model = load_model(model_name)
data = np.random.default_rng(0).normal(100.0, 5.0, (size, size)).astype(np.float32)
BGRemBackground(data[:tile, :tile], model, diffusion_steps=1, batch_size=batch)  # warm-up
times = []
for _ in range(repeats):
    start = time.perf_counter()
    bkg = BGRemBackground(data, model, diffusion_steps=steps, batch_size=batch,
                          tile_size=tile, keep_size=keep)
    times.append(time.perf_counter() - start)
from bgrem.model.tiling import TileGrid
tiles = TileGrid(data.shape, tile, keep).count
print(json.dumps({'size': size, 'steps': steps, 'batch_size': batch, 'tile_size': tile,
                  'keep_size': keep, 'tiles': tiles, 'seconds': min(times),
                  'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
'''


def run_one(size, steps, batch, tile, keep, model, repeats):
    """Time one configuration in a child process and return its record."""
    result = subprocess.run(
        [sys.executable, '-c', _CHILD, str(size), str(steps), str(batch), str(tile),
         str(keep), model, str(repeats)],
        capture_output=True, text=True, check=True)
    record = json.loads(result.stdout.strip().splitlines()[-1])
    record['evaluations_per_s'] = record['tiles'] * steps / record['seconds']
    record['megapixels_per_s'] = size * size / 1e6 / record['seconds']
    return record


def main(args=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--sizes', type=int, nargs='+', default=[1024, 2048])
    parser.add_argument('--steps', type=int, nargs='+', default=[1, 6])
    parser.add_argument('--batch-sizes', type=int, nargs='+', default=[4])
    parser.add_argument('--tile-size', type=int, default=256)
    parser.add_argument('--keep-size', type=int, default=200)
    parser.add_argument('--model', default='random')
    parser.add_argument('--repeats', type=int, default=1)
    parser.add_argument('--json', help='also write the records to this file')
    options = parser.parse_args(args)

    machine = (f'{platform.processor() or platform.machine()}, {os.cpu_count()} cores, '
               f'Python {platform.python_version()}')
    print(f'# bgrem engine benchmark, {time.strftime("%Y-%m-%d")}, {machine}')
    print(f'{"size":>6} {"steps":>5} {"batch":>5} {"tile/keep":>9} {"tiles":>5} '
          f'{"seconds":>8} {"evals/s":>8} {"MPix/s":>7} {"peak MB":>8}')
    records = []
    for size in options.sizes:
        for steps in options.steps:
            for batch in options.batch_sizes:
                r = run_one(size, steps, batch, options.tile_size, options.keep_size,
                            options.model, options.repeats)
                records.append(r)
                layout = f"{r['tile_size']}/{r['keep_size']}"
                print(f'{size:>6} {steps:>5} {batch:>5} {layout:>9} '
                      f'{r["tiles"]:>5} {r["seconds"]:>8.2f} {r["evaluations_per_s"]:>8.1f} '
                      f'{r["megapixels_per_s"]:>7.3f} {r["peak_rss_mb"]:>8.0f}', flush=True)
    if options.json:
        with open(options.json, 'w') as stream:
            json.dump({'machine': machine, 'date': time.strftime('%Y-%m-%d'),
                       'records': records}, stream, indent=2)


if __name__ == '__main__':
    main()
