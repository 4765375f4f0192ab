"""Operators, one per module; `classes` in registration order."""

from .cancel_job import EXPOTION_OT_cancel_job
from .check_service import EXPOTION_OT_check_service
from .clear_jobs import EXPOTION_OT_clear_jobs
from .open_audio_folder import EXPOTION_OT_open_audio_folder
from .open_service_log import EXPOTION_OT_open_service_log
from .regenerate import EXPOTION_OT_regenerate
from .replace_temp import EXPOTION_OT_replace_temp_track
from .score_all import EXPOTION_OT_score_all
from .score_strips import EXPOTION_OT_score_strips
from .score_timeline import EXPOTION_OT_score_timeline
from .start_service import EXPOTION_OT_start_service
from .stop_service import EXPOTION_OT_stop_service
from .suggest_prompt import EXPOTION_OT_suggest_prompt
from .take_audition import EXPOTION_OT_take_audition
from .take_delete import EXPOTION_OT_take_delete
from .take_swap import EXPOTION_OT_take_swap
from .temp_ab import EXPOTION_OT_temp_ab

classes = (
    EXPOTION_OT_check_service,
    EXPOTION_OT_start_service,
    EXPOTION_OT_stop_service,
    EXPOTION_OT_open_service_log,
    EXPOTION_OT_suggest_prompt,
    EXPOTION_OT_score_strips,
    EXPOTION_OT_score_timeline,
    EXPOTION_OT_replace_temp_track,
    EXPOTION_OT_score_all,
    EXPOTION_OT_regenerate,
    EXPOTION_OT_cancel_job,
    EXPOTION_OT_clear_jobs,
    EXPOTION_OT_open_audio_folder,
    EXPOTION_OT_take_swap,
    EXPOTION_OT_take_audition,
    EXPOTION_OT_take_delete,
    EXPOTION_OT_temp_ab,
)
