"""Enhancement at corpus scale on Lightning's predict loop, across devices and nodes:
its inputs (``inputs``: a folder, a glob, a list file), the files as a dataset (``data``),
the loop and its writer (``predict``), and what the run did (``report``)."""
