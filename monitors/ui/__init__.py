"""Streamlit pages, cached loaders and pure chart builders."""
