"""SkyDriver: the REST service that runs IceCube's Skymap Scanner sky scans (see README.md)."""
