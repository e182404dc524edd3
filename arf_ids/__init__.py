"""arf_ids."""
