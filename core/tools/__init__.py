"""Tools built on the pipeline: conformance runner, differential fuzzer, inspection commands."""
