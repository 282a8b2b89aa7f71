"""elec: LLM-empowered CTR prediction with LLM-free serving (ELEC, SIGIR 2025)."""

__version__ = "0.1.0"
