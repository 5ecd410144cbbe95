"""Plot helpers shared by the evaluation reports (matplotlib imported on use)."""

import pathlib

__all__ = []


def pyplot_for(folder):
    """matplotlib.pyplot with the file-only Agg backend, and ``folder`` created."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return plt, folder


def plot_detection_curves(ax, curves, title, n_true):
    """True against false positives, one line per method."""
    for name, curve in curves.items():
        ax.plot(curve['false_positives'], curve['true_positives'], '.-', ms=3, label=name)
    ax.set_xscale('symlog', linthresh=1)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel('false positives')
    ax.set_ylabel(f'true positives (of {n_true})')


def save_figure(plt, fig, path):
    """Lay out, write (100 dpi) and close a figure; returns ``path``."""
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
