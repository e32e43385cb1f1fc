"""environment.json records what decides the outputs of quantized and threaded models."""

from __future__ import annotations

from codecbench import environment as env

AMD = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 26
model\t\t: 2
model name\t: AMD EPYC 9B45
stepping\t: 1
flags\t\t: fpu sse4_1 sse4_2 avx avx2 fma f16c avx512f avx512bw avx512vl avx512_vnni avx512_bf16 avx_vnni

processor\t: 1
vendor_id\t: AuthenticAMD
"""
ARM = """processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes asimddp sha512 sve i8mm bf16
CPU implementer\t: 0x41
CPU part\t: 0xd40
"""


def test_cpu_description_keeps_vendor_model_and_dispatch_flags():
    amd = env.cpu_description(AMD)
    assert (amd["vendor"], amd["family"], amd["model_number"], amd["model"]) == ("AuthenticAMD", "26", "2",
                                                                                "AMD EPYC 9B45")
    assert amd["isa_flags"] == ["sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl",
                                "avx512_vnni", "avx512_bf16", "avx_vnni"]  # "fpu" is not a dispatch flag
    arm = env.cpu_description(ARM)
    assert arm["isa_flags"] == ["asimd", "asimddp", "i8mm", "bf16", "sve"] and arm["implementer"] == "0x41"
    assert env.cpu_description("")["model"]  # no /proc/cpuinfo (macOS): still a description


def test_numerics_records_overrides_threads_and_asr_compute_type(monkeypatch):
    monkeypatch.setenv("CT2_FORCE_CPU_ISA", "AVX2")
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.delenv("MKL_CBWR", raising=False)
    opts = {"backend": "faster-whisper", "model": "base", "compute_type": "int8_float32", "beam": 5, "threads": 2}
    n = env.numerics("cpu", opts)  # the run's resolved ASR options (codecbench.config), recorded as they are
    assert n["dispatch_env"]["CT2_FORCE_CPU_ISA"] == "AVX2" and "MKL_CBWR" not in n["dispatch_env"]
    assert n["threads"]["OMP_NUM_THREADS"] == "3" and n["threads"]["cpu_count"] >= 1
    assert n["asr"]["options"]["compute_type"] == "int8_float32" and n["asr"]["options"]["threads"] == 2
    assert "int8" in n["asr"]["supported_compute_types"]
    assert n["cpu"]["model"] and isinstance(n["cpu"]["isa_flags"], list)


def test_a_failing_part_is_described_not_raised(monkeypatch):
    def broken(*_):
        raise OSError("no cpuinfo here")

    monkeypatch.setattr(env, "cpu_description", broken)
    assert env.capture("cpu")["numerics"]["cpu"] == {"error": "OSError: no cpuinfo here"}


TORCH_CONFIG = """PyTorch built with:
  - GCC 13.3
  - Intel(R) oneAPI Math Kernel Library Version 2024.2-Product Build 20240605 for Intel(R) 64 architecture applications
  - Intel(R) MKL-DNN v3.12.0 (Git Hash 80afa71049cd69a3df32adcccb623b12cd7baa22)
  - OpenMP 201511 (a.k.a. OpenMP 4.5)
  - CPU capability usage: AVX512
"""


def test_math_libraries_that_pick_kernels_per_cpu_are_recorded():
    assert env.torch_build_libraries(TORCH_CONFIG) == {"mkl": "2024.2", "onednn": "v3.12.0", "openmp": "201511"}
    assert env.torch_build_libraries("PyTorch built with:\n  - GCC 13.3\n") == {"mkl": None, "onednn": None,
                                                                                 "openmp": None}
    import torch  # noqa: F401  (numerics describes torch only once a run has loaded it)

    n = env.numerics("cpu")
    assert n["torch"]["loaded"] and n["torch"]["cpu_capability"] and n["torch"]["num_threads"] >= 1
    assert {"mkl", "onednn", "mkldnn_enabled"} <= set(n["torch"])
    assert n["numpy"]["numpy"] and "blas" in n["numpy"]
