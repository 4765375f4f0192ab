"""Operators, one per module; `classes` in registration order."""

from .cancel_job import EXPOTION_OT_cancel_job
from .check_service import EXPOTION_OT_check_service
from .regenerate import EXPOTION_OT_regenerate
from .score_strips import EXPOTION_OT_score_strips
from .suggest_prompt import EXPOTION_OT_suggest_prompt

classes = (
    EXPOTION_OT_check_service,
    EXPOTION_OT_suggest_prompt,
    EXPOTION_OT_score_strips,
    EXPOTION_OT_regenerate,
    EXPOTION_OT_cancel_job,
)
