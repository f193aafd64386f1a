"""Start, watch and stop one HTCondor cluster of Skymap Scanner clients on behalf of SkyDriver.

Run inside a scan's Kubernetes Job (``python -m scanner_client ... start``) and by SkyDriver's teardown
(``python -m scanner_client ... stop``).
"""
