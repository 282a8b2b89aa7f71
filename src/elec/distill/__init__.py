"""The ELEC core: gain network, vanilla network, distillation losses."""
