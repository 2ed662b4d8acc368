"""Which device trains a model: the GPUs a job was granted, checked against what TensorFlow
sees, and a record of the device for provenance.json.

A job granted GPUs on which TensorFlow finds none (no CUDA libraries in the environment, a
driver mismatch, devices hidden) would otherwise train on the CPU, silently and many times
slower. So `check_devices` fails it at once, naming what it found, unless the caller allows
falling back to the CPU; then the fallback is recorded. GPUs get memory growth, so that one
job does not take a whole GPU's memory at start.
"""

from __future__ import annotations

import contextlib
import os
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dmsweep._tf import tf
from dmsweep.errors import TrainingError
from dmsweep.train.provenance import read_job_ad

ASSIGNED_GPUS_ENV = "_CONDOR_AssignedGPUs"
VISIBLE_DEVICES_ENV = "CUDA_VISIBLE_DEVICES"
NVIDIA_DRIVER_FILE = Path("/proc/driver/nvidia/version")


@dataclass(frozen=True)
class GPUInfo:
    name: str
    compute_capability: str | None = None


@dataclass(frozen=True)
class DeviceRecord:
    """provenance.json's `device`: what trained the model (kind "cpu" or "gpu")."""

    kind: str
    cpu: str
    threads: int
    gpus: tuple[GPUInfo, ...] = ()
    gpus_requested: int = 0
    cpu_fallback: bool = False
    cuda_build: str | None = None
    cudnn_build: str | None = None
    driver: str | None = None
    environment: dict[str, str] = field(default_factory=dict)

    @property
    def replicas(self) -> int:
        """GPUs the training mirrors across: those granted (HTCondor makes only they visible)
        and seen, all those seen where the grant is not known; 0 on the CPU."""
        if self.kind != "gpu":
            return 0
        return min(self.gpus_requested or len(self.gpus), len(self.gpus))

    @property
    def label(self) -> str:
        """One short name for a table column: the GPU's name (with the count where several
        trained it data-parallel, whose global batch is larger), else the CPU's. Counted
        are the replicas, not the GPUs visible: a job granted one GPU that sees two (a node
        that does not hide the others) trains on one."""
        if self.kind != "gpu":
            return self.cpu
        count = f" x{self.replicas}" if self.replicas > 1 else ""
        return f"{self.gpus[0].name}{count}"

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["label"] = self.label
        return out


def requested_gpus(override: int | None = None, ad: dict[str, str] | None = None) -> int:
    """GPUs this job was granted: `override` (--gpus), else the job ad's RequestGPUs, else
    the number HTCondor assigned ($_CONDOR_AssignedGPUs), else 0."""
    if override is not None:
        return override
    ad = read_job_ad() if ad is None else ad
    value = ad.get("RequestGPUs", "").strip()
    if value.isdigit():
        return int(value)
    assigned = os.environ.get(ASSIGNED_GPUS_ENV, "").strip()
    return len([g for g in assigned.split(",") if g.strip()]) if assigned else 0


def check_devices(gpus: int, *, threads: int, allow_cpu_fallback: bool) -> DeviceRecord:
    """The device record of this process; raises TrainingError when `gpus` > 0 were granted
    but TensorFlow sees none and no fallback is allowed."""
    found = tf.config.list_physical_devices("GPU")
    for device in found:  # already initialised in this process (a second training): as it is
        with contextlib.suppress(RuntimeError):
            tf.config.experimental.set_memory_growth(device, True)
    build = _build_info()
    record = DeviceRecord(
        kind="gpu" if found else "cpu",
        cpu=cpu_model(),
        threads=threads,
        gpus=tuple(_gpu_info(d) for d in found),
        gpus_requested=gpus,
        cpu_fallback=bool(gpus and not found),
        cuda_build=build.get("cuda_version"),
        cudnn_build=build.get("cudnn_version"),
        driver=nvidia_driver(),
        environment=_gpu_environment(),
    )
    if gpus and not found and not allow_cpu_fallback:
        raise TrainingError(missing_gpu_message(gpus, record))
    return record


def missing_gpu_message(gpus: int, record: DeviceRecord) -> str:
    visible = ", ".join(d.device_type for d in tf.config.list_physical_devices()) or "none"
    cuda = record.cuda_build or "none (this TensorFlow was built without CUDA)"
    env = ", ".join(f"{k}={v!r}" for k, v in record.environment.items()) or "none set"
    return (
        f"granted {gpus} GPU(s) but TensorFlow sees none (devices: {visible}; CUDA build: "
        f"{cuda}; cuDNN build: {record.cudnn_build or 'none'}; NVIDIA driver: "
        f"{record.driver or 'not found'}; GPU variables: {env}): use an environment with "
        "TensorFlow's CUDA libraries (tensorflow[and-cuda]), or allow the CPU fallback"
    )


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def nvidia_driver() -> str | None:
    """The NVIDIA kernel driver's version line, None where there is none."""
    try:
        first = NVIDIA_DRIVER_FILE.read_text(errors="replace").splitlines()[0]
    except (OSError, IndexError):
        return None
    return " ".join(first.split())


def _gpu_info(device: Any) -> GPUInfo:
    details = tf.config.experimental.get_device_details(device)
    capability = details.get("compute_capability")
    return GPUInfo(
        name=str(details.get("device_name") or device.name),
        compute_capability=".".join(map(str, capability)) if capability else None,
    )


def _build_info() -> dict[str, str]:
    info = tf.sysconfig.get_build_info()
    return {k: str(v) for k, v in info.items() if k in ("cuda_version", "cudnn_version") and v}


def _gpu_environment() -> dict[str, str]:
    return {
        name: os.environ[name]
        for name in (VISIBLE_DEVICES_ENV, ASSIGNED_GPUS_ENV)
        if name in os.environ
    }
