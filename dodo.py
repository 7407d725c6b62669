"""doit entry point: the tasks live in kbuild/tasks/ (run `doit list`)."""
from kbuild.tasks.creators import (  # noqa: F401
    doit_config,
    task_boot,
    task_build,
    task_config,
    task_fetch,
    task_kernel,
    task_patch,
    task_stage,
    task_unpack,
    task_verify,
)

DOIT_CONFIG = doit_config()
