"""The protoclients command line (installed as ``protoclients_cli``)."""
