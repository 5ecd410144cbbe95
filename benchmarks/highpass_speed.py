"""
Speed and accuracy of `bgrem.detection.median_highpass` (the running
median on block means behind ``detect_sources(..., highpass_width=N)``)
against the running median of every pixel (`scipy.ndimage.median_filter`).

Usage::

    python benchmarks/highpass_speed.py
    python benchmarks/highpass_speed.py --widths 15 21 25 45 --large 4096

On white noise of unit sigma it prints, per width, the time of both and the
RMS and largest difference between the two high-passed images; then the
time of `median_highpass` alone on a large image.
"""

import argparse
import time

import numpy as np


def _best_time(function, repeats):
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(args=None):
    from scipy.ndimage import median_filter

    from bgrem.detection import median_highpass

    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--size', type=int, default=512, help='side of the compared images')
    parser.add_argument('--widths', type=int, nargs='+', default=[15, 21, 25, 45])
    parser.add_argument('--large', type=int, default=4096,
                        help='side of the image median_highpass alone is timed on')
    parser.add_argument('--repeats', type=int, default=3)
    options = parser.parse_args(args)

    rng = np.random.default_rng(0)
    image = rng.normal(size=(options.size, options.size))
    print(f'{options.size} x {options.size} pixels of white noise (sigma 1), best of '
          f'{options.repeats}:')
    print(f"{'width':>6} {'full s':>8} {'blocks s':>9} {'speed-up':>9} {'RMS diff':>9} "
          f"{'max diff':>9}")
    for width in options.widths:
        full_seconds, median = _best_time(
            lambda: median_filter(image, size=width, mode='reflect'), options.repeats)
        fast_seconds, fast = _best_time(lambda: median_highpass(image, width), options.repeats)
        difference = fast - (image - median)
        print(f'{width:6d} {full_seconds:8.3f} {fast_seconds:9.3f} '
              f'{full_seconds / fast_seconds:9.1f} {np.sqrt(np.mean(difference ** 2)):9.3f} '
              f'{np.max(np.abs(difference)):9.3f}')
    large = rng.normal(size=(options.large, options.large)).astype(np.float32)
    seconds, _ = _best_time(lambda: median_highpass(large, 21), 1)
    print(f'median_highpass, width 21, {options.large} x {options.large} pixels: {seconds:.1f} s')


if __name__ == '__main__':
    main()
