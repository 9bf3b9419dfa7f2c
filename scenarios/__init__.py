"""Locust scenarios: the e-commerce shopper, profile-driven load shapes and the raw-sample hook.

These modules run inside the Locust subprocess (gevent-patched); the harness talks to them
only through a JSON settings file named by ``ARCHBENCH_SCENARIO`` (see ``settings.py``).
"""
