"""Start, watch and stop one HTCondor cluster of Skymap Scanner clients on behalf of SkyDriver.

Run inside a scan's Kubernetes Job (``python -m scanner_client ... start``) and by SkyDriver's teardown
(``python -m scanner_client ... stop``); with ``--local-jobs`` the same commands run the clients as local processes
(SkyDriver's local launcher). Also home of what the scan side shares with SkyDriver: the one client of its
scanner-facing routes (``scan_routes``) and the input rules POST /scan applies (``memory_size``, ``nsides``).
"""
