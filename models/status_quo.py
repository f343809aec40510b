"""Today's services: the comparator. Changes nothing."""

from models.base import CareModel, ModelParams
from models.registry import register


class StatusQuoParams(ModelParams):
    """The status quo has no parameters of its own."""


@register
class StatusQuo(CareModel):
    kind = "status_quo"
    title = "Status quo (today's services)"
    Params = StatusQuoParams
