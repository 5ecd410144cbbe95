"""
An ordered ``map`` over worker processes, for the long loops over simulated
fields (training sets, the evaluation).
"""

import concurrent.futures
import contextlib
import multiprocessing

__all__ = []


@contextlib.contextmanager
def process_map(workers, initializer=None, initargs=(), chunksize=1):
    """
    An ordered ``map(function, jobs)``: the built-in one for one worker, or
    over a pool of ``workers`` processes.

    The processes are started with 'spawn', not forked: a fork of a process
    that has started TensorFlow's threads can hang, and spawned processes
    behave the same on every platform.  ``function`` and the jobs must then
    be picklable (module-level functions, plain data).

    Parameters
    ----------
    workers : int
        Number of processes; 1 runs in this process.
    initializer : callable, optional
        Called as ``initializer(*initargs)`` once in each worker process
        (not in this one when ``workers`` is 1), e.g. to load a model.
    initargs : tuple, optional
        Its arguments.
    chunksize : int, optional
        Jobs sent to a process at a time (more for many short jobs).

    Yields
    ------
    mapper : callable
        ``mapper(function, jobs)`` returns the results in the order of
        ``jobs``, lazily.

    Raises
    ------
    ValueError
        If ``workers`` is below 1.
    """
    workers = int(workers)
    if workers < 1:
        raise ValueError(f'workers must be at least 1, got {workers}')
    if workers == 1:
        yield map
        return
    with concurrent.futures.ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context('spawn'),
            initializer=initializer, initargs=initargs) as pool:
        yield lambda function, jobs: pool.map(function, jobs, chunksize=chunksize)
