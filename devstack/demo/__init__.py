"""The demo shop: five traced services, a traffic driver and a launcher.

``python -m devstack.demo <gateway|order|payment|inventory|notification>`` runs one service;
``python -m devstack.demo traffic --gateway-url URL --orders N`` drives orders through the
gateway. :class:`devstack.demo.launcher.DemoServices` runs all five as child processes.
"""
