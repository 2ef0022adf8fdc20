"""Host work timed on a CPU: `host_us`, and a fake CUDA driver for Triton with compiled kernels that launch nothing.

Used by bench_sparse_gpu.py --host-cpu and bench_lsh_host.py, e.g. to time Triton's own launcher (`kernel[grid](...)`:
binding and specialising the arguments, its cache lookup) against `_launch` (core) without a GPU. Relies on
Triton internals (`JITFunction._do_compile`, `driver.set_active`): callers catch what a different Triton raises.
"""
import statistics, time, types
import triton
from triton.runtime.driver import driver

def host_us(fn, calls, runs=7, warmup=50):
    "Microseconds per call of `fn` on the host, each of `runs` runs the mean of `calls` calls: their median and all of them."
    for _ in range(warmup): fn()
    us = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(calls): fn()
        us.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(us), us

class FakeDriver:
    "Device 0, stream 0, an H100's target: what Triton's launcher asks the driver."
    def get_current_device(self): return 0
    def get_current_stream(self, device=None): return 0
    def get_current_target(self):
        from triton.backends.compiler import GPUTarget
        return GPUTarget('cuda', 90, 32)

class FakeKernel:
    "A compiled kernel whose launch keeps its arguments (`last`) and does nothing."
    function = packed_metadata = None
    def launch_metadata(self, *args): return None
    def run(self, *args): self.last = args

def _fake_compile(self, key, signature, device, constexprs, options, attrs, warmup):
    self.device_caches[device][0][key] = kernel = FakeKernel()
    return kernel

def fake_jit(fn, **kwargs): # a kernel's Python function; `triton.JITFunction`'s options (e.g. `do_not_specialize`)
    "`triton.JITFunction(fn, **kwargs)` whose compilations give `FakeKernel`s."
    kernel = triton.JITFunction(fn, **kwargs)
    kernel._do_compile = types.MethodType(_fake_compile, kernel)
    return kernel

def use_fake_driver():
    "Make `FakeDriver` Triton's active driver; returns what to hand `restore_driver`."
    saved = driver._active   # None on a machine without a GPU
    driver.set_active(FakeDriver())
    return saved

def restore_driver(saved): driver._active = saved

def same_args(kernel, grid, args, consts, launch): # a `fake_jit` kernel, its launch, and a launcher `launch(kernel, grid, args, consts)`
    "Whether `launch` hands the compiled kernel exactly the arguments Triton's own launcher hands it."
    compiled = kernel[grid](*args, **consts); by_triton = compiled.last
    compiled.last = None; launch(kernel, grid, args, consts)
    return compiled.last is not None and len(compiled.last) == len(by_triton) and \
        all(a is b or (type(a) == type(b) and a == b) for a, b in zip(compiled.last, by_triton))
