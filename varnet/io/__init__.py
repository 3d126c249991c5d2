"""File formats of varnet's observation inputs.

The same modules serve the synthetic ocean, training and operations, so that a pipeline built
on synthetic files runs unchanged on real CMEMS L3 along-track and GHRSST L4/L3 SST files:

- :mod:`varnet.io.names` builds and parses the file names (CMEMS L3, GHRSST GDS2);
- :mod:`varnet.io.writers` writes along-track SSH and SST files in those layouts, atomically
  and byte-for-byte deterministically;
- :mod:`varnet.io.readers` reads them back (and reads real files), checking everything and
  raising :class:`varnet.io.readers.InputFileError` with the file, the variable and the problem.
"""
