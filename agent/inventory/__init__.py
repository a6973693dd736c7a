"""Inventory loading: our Ansible-shaped YAML, and Ansible's own YAML and INI files."""
