"""Language model: encoding, vector cache, stage-1 adapter."""
