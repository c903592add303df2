"""Runs to and from other tools: TensorBoard event files (tensorboard/, both ways),
Visdom (visdom.py), CSV and Parquet (files.py), and the run selection all exporters
share (selection.py)."""
