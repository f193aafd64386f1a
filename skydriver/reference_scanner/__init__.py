"""A stand-in for the Skymap Scanner that speaks its protocol to SkyDriver.

The real scanner needs IceCube's IceTray; this one keeps the same command line, environment, HEALPix pixel
progression, progress and result formats, with a documented stand-in likelihood (``likelihood.py``), so SkyDriver
can run a scan end to end on one machine. Programs: ``server`` and ``client`` (a worker); the workers are started
by the production ``scanner_client`` with its local schedd (``--local-jobs``), as SkyDriver's local launcher does.
"""
