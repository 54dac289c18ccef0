"""The e-commerce system of the seed guide (12.7.5): a data generator, the ``revenue`` and ``fraud`` apps,
their sinks and a live dashboard.

    python -m rayflink.apps.ecommerce             # the whole system on embedded defaults
    python -m rayflink.apps.ecommerce.revenue --conf apps/ecommerce/conf/revenue.yaml
    python -m rayflink.apps.ecommerce.fraud --conf apps/ecommerce/conf/fraud.yaml
    python -m rayflink.apps.ecommerce.generate --help
    python -m rayflink.apps.ecommerce.dashboard
"""
