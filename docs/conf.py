# Sphinx configuration of the bgrem documentation (sphinx-astropy conventions).
#
# Build with ``tox -e build_docs`` or, from this folder,
# ``sphinx-build -W -b html . _build/html``.
#
# The build needs no network: intersphinx is off unless the environment
# variable BGREM_DOCS_INTERSPHINX is set (then the astropy defaults, plus
# photutils and keras, are fetched).

import datetime
import importlib.util
import os
import pathlib
import sys

try:
    from sphinx_astropy.conf.v2 import *  # noqa: F401,F403
except ImportError:
    print('ERROR: the documentation requires the sphinx-astropy package: '
          'pip install "bgrem[docs]"')
    sys.exit(1)

# Build against the source tree when bgrem is not installed.
if importlib.util.find_spec('bgrem') is None:
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import bgrem  # noqa: E402

# -- Project information ------------------------------------------------------

project = 'bgrem'
author = 'The bgrem developers'
copyright = f'{datetime.date.today().year}, {author}'
release = bgrem.__version__
version = release.split('+')[0]

# -- General configuration ----------------------------------------------------

# sphinx-astropy lists sphinx-copybutton, which it does not require.
extensions = [ext for ext in extensions  # noqa: F405
              if ext != 'sphinx_copybutton' or importlib.util.find_spec(ext) is not None]

exclude_patterns = ['_build', '**.ipynb_checkpoints', 'conftest.py']


# No inheritance diagrams: they need Graphviz, and the Keras classes would
# dominate them.
automodsumm_inherited_members = False
# Keras layers document their methods in their own (non-numpydoc) style.
autodoc_inherit_docstrings = False

numpydoc_xref_param_type = False

# -- Intersphinx ----------------------------------------------------------------

if os.environ.get('BGREM_DOCS_INTERSPHINX'):
    intersphinx_mapping.update({  # noqa: F405
        'photutils': ('https://photutils.readthedocs.io/en/stable/', None),
    })
else:
    intersphinx_mapping = {}
nitpicky = False

# -- Options for HTML output ----------------------------------------------------

html_title = f'{project} v{release}'
html_theme_options = {**html_theme_options,  # noqa: F405
                      'navigation_with_keys': False,
                      'show_toc_level': 2}
html_static_path = []
htmlhelp_basename = project + 'doc'
html_last_updated_fmt = None


# -- Cross-references to private module paths ----------------------------------
#
# Docstrings refer to objects by the module that defines them (e.g.
# ``bgrem.model.registry.load_model``), while the API pages document them
# where they are imported from (``bgrem.model.load_model``).  Resolve such
# references to the documented object with the longest common prefix.

def _resolve_bgrem_reference(app, env, node, contnode):
    if node.get('refdomain') != 'py':
        return None
    target = node['reftarget']
    if not (target.startswith('bgrem.') or '.' not in target):
        return None
    domain = env.get_domain('py')
    name = target.rsplit('.', 1)[-1]
    candidates = [full for full in domain.objects
                  if full.startswith('bgrem.') and full.rsplit('.', 1)[-1] == name]
    if not candidates:
        return None

    def shared(full):
        return len(os.path.commonprefix([full, target]))

    best = sorted(candidates, key=lambda full: (-shared(full), len(full)))[0]
    return domain.resolve_xref(env, node.get('refdoc', ''), app.builder,
                               node.get('reftype', 'obj'), best, node, contnode)


def setup(app):
    app.connect('missing-reference', _resolve_bgrem_reference)
