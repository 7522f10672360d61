"""Metrics providers (Java: ``org.apache.zookeeper.metrics``): the
Prometheus ``/metrics`` endpoint of :mod:`zkpy.server.metrics.prometheus`."""

from .prometheus import (
    MetricsProviderLifeCycleException, PrometheusMetricsProvider, start_metrics_provider,
)

__all__ = ["MetricsProviderLifeCycleException", "PrometheusMetricsProvider", "start_metrics_provider"]
