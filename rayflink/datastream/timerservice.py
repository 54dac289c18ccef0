"""``TimerService`` at PyFlink's path ``pyflink.datastream.timerservice`` (defined with the functions
that receive it, in ``rayflink.datastream.functions``)."""

from rayflink.datastream.functions import TimerService

__all__ = ["TimerService"]
