"""pytest: collect the doctests of the narrative pages, not the build."""

collect_ignore = ['conf.py']
collect_ignore_glob = ['_build/*', 'api/*']
