"""One module per protocol, each wrapping its standard-library (or requests) client."""
