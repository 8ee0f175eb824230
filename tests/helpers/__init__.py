"""What the tests share: a DDS probe, sim cells seen over DDS, test checkpoints, process
helpers, fakes of the vendor APIs. Imported as `helpers.<module>`."""
