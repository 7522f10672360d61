"""The AdminServer: the four-letter words as JSON over HTTP.

Java: ``org.apache.zookeeper.server.admin`` (``JettyAdminServer``,
``Commands``, ``CommandResponse``, ``JsonOutputter``). See
:mod:`zkpy.server.admin.admin_server` and :mod:`zkpy.server.admin.commands`.
"""

from .admin_server import AdminServer, AdminServerException
from .commands import COMMANDS, CommandResponse, primary_names, run_command

__all__ = ["AdminServer", "AdminServerException", "COMMANDS", "CommandResponse", "primary_names", "run_command"]
