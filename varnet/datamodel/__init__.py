"""The data model shared by training and operations: the grid with its ocean mask.

No torch here: operations hosts import this package.
"""
