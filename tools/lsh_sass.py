#!/usr/bin/env python3
"""The fused LSH kernels compiled for a GPU without one: machine instructions, registers and spills, by duplicate rule.

Triton compiles `_fwd`, `_bwd_dq` and `_bwd_dkdv` (reformer_rigl.reformer.lsh_kernel) for an `sm_<arch>` target on
this machine (its own ptxas; no driver, no GPU) and reads the cubin with cuobjdump: the SASS instruction count, the
registers a thread uses and the stack bytes (spills). The count is of the code, not of what runs: unrolled code
(the count's loop over rounds is a `static_range`) runs each instruction once a program, a loop (the 'first' rule's
over earlier rounds) runs its body once per pass but is counted once. Each kernel is compiled with the rule constant `DEDUP` 0 (no
deduplication), 1 (the count), 1 with the counts kept (`CNT`: the forward writes them, the backward reads them) and
2 ('first'), so the difference is what a rule costs in instructions. Instructions
are not time: this says where to look and what a change removes, the GPU says what it is worth.

    python tools/lsh_sass.py [--rounds 4,8] [--bucket 64] [--warps 4] [--mix] [--out lsh_sass.jsonl] [--git REV]

`--mix` prints, per kernel, the instruction kinds whose number the count changes (rule 1 against 0).
"""
import argparse, collections, inspect, json, os, re, subprocess, tempfile
os.environ.setdefault('TRITON_ALWAYS_COMPILE', '1')       # every configuration compiled, never a cached one
import triton
from triton.compiler import ASTSource
from triton.backends.compiler import GPUTarget
from reformer_rigl.reformer import lsh_kernel as K
from reformer_rigl.reformer.attention import MASK_VALUE, SELF_MASK_VALUE

BIN = os.path.join(os.path.dirname(triton.__file__), 'backends', 'nvidia', 'bin')
INTS = {'order_ptr', 'ch_ptr', 'nreal_ptr'}                         # int32 tensors; ok_ptr is int8
HALF = {'q_ptr', 'v_ptr', 'do_ptr', 'fin_ptr', 'fq_ptr', 'fv_ptr'}   # the inputs' and outputs' dtype (bfloat16 here); the rest float32

def _type(kernel:str, p:str):
    "The signature type of argument `p` as the fused path launches it in bfloat16."
    if p in INTS: return '*i32'
    if p in ('ok_ptr', 'cnt_ptr'): return '*i8'
    if p.endswith('_ptr'): return '*bf16' if p in HALF or (kernel, p) == ('_bwd_dq', 'out_ptr') else '*fp32'   # dq reads the output
    return 'fp32' if p == 'scale' else 'i32'

def compile_kernel(name:str, dedup:int, rounds:int, bucket:int, d:int, warps:int, arch:int, causal:bool=True, cnt:int=0):
    "One kernel compiled for `sm_<arch>` as the fused path would launch it (bfloat16, no padding, a middle round; `cnt`: the kernels' `CNT`): pointers, strides, `n` and `C` known to be multiples of 16, as Triton specializes them at a launch with such values."
    fn = getattr(K, name)
    params = list(inspect.signature(fn.fn).parameters)
    const = dict(S=bucket, D=d, E=d, R=rounds, CAUSAL=causal, HAS_MASK=False, DEDUP=dedup, CNT=cnt, PREC='tf32', MASK=MASK_VALUE,
                 SELF=SELF_MASK_VALUE, FIRST=False, LAST=False, LAST_Q=False)
    sig = {p: 'constexpr' if p in const else _type(name, p) for p in params}
    aligned = [p for p in params if p not in const and (p.endswith('_ptr') or p in ('n', 'C') or re.fullmatch(r's[a-z]{2}', p))]
    src = ASTSource(fn, sig, constexprs={(params.index(p),): const[p] for p in params if p in const},
                    attrs={(params.index(p),): [['tt.divisibility', 16]] for p in aligned})   # as a launch specializes them
    return triton.compile(src, target=GPUTarget('cuda', arch, 32), options=dict(num_warps=warps))

def read_cubin(kernel):
    "Instructions (a list of their text), registers and stack bytes of a compiled kernel."
    with tempfile.NamedTemporaryFile(suffix='.cubin', delete=False) as f: f.write(kernel.asm['cubin'])
    try:
        use = subprocess.run([f'{BIN}/cuobjdump', '-res-usage', f.name], capture_output=True, text=True, check=True).stdout
        sass = subprocess.run([f'{BIN}/cuobjdump', '-sass', f.name], capture_output=True, text=True, check=True).stdout
    finally: os.unlink(f.name)
    m = re.search(r'REG:(\d+).*?STACK:(\d+)', use, re.S)
    if m is None: raise RuntimeError(f'no resource usage in cuobjdump output: {use[:200]!r}')
    ins = [re.sub(r'^\s*/\*[0-9a-f]+\*/\s+', '', l) for l in sass.splitlines() if re.match(r'\s+/\*[0-9a-f]{4,}\*/', l)]
    return ins, int(m.group(1)), int(m.group(2))

def opcode(line:str): return re.sub(r'^@!?U?P\w+\s+', '', line).split()[0].split('.')[0]   # 'ISETP.GE.AND ...' -> ISETP

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--kernels', default='_fwd,_bwd_dq,_bwd_dkdv')
    ap.add_argument('--rounds', default='4,8', help='rounds (comma-separated)')
    ap.add_argument('--bucket', type=int, default=64)
    ap.add_argument('--dim', type=int, default=64, help='head size')
    ap.add_argument('--warps', type=int, default=None, help="warps a program (default: lsh_kernel._warps' choice)")
    ap.add_argument('--arch', type=int, default=90, help='compute capability as an integer (90: H100/H200)')
    ap.add_argument('--mix', action='store_true', help='print the instruction kinds the count changes')
    ap.add_argument('--out', default=None, help='JSON lines to append')
    ap.add_argument('--git', default=None)
    a = ap.parse_args()
    for rounds in map(int, a.rounds.split(',')):
        for name in a.kernels.split(','):
            warps = a.warps or K._warps('fwd' if name == '_fwd' else 'bwd', a.bucket)
            mixes = {}
            kept = 'cnt_ptr' in inspect.signature(getattr(K, name).fn).parameters   # code from before the counts were kept: no such case
            for dedup, rule, cnt in ((0, 'none', 0), (1, 'count', 0), (1, 'count_kept', 1 if name == '_fwd' else 2), (2, 'first', 0)):
                if rule == 'count_kept' and not kept: continue
                ins, regs, stack = read_cubin(compile_kernel(name, dedup, rounds, a.bucket, a.dim, warps, a.arch, cnt=cnt))
                mixes[rule] = collections.Counter(map(opcode, ins))
                rec = dict(kind='sass', kernel=name, rule=rule, rounds=rounds, bucket=a.bucket, dim=a.dim, warps=warps,
                           arch=f'sm_{a.arch}', instructions=len(ins), registers=regs, stack_bytes=stack,
                           triton=triton.__version__, git=a.git)
                print(f"{name:9s} R={rounds} {rule:10s} instructions {len(ins):6d} registers {regs:3d} stack {stack:4d} B", flush=True)
                if a.out:
                    with open(a.out, 'a') as f: f.write(json.dumps(rec) + '\n')
            if a.mix:
                diff = {op: mixes['count'][op] - mixes['none'][op] for op in set(mixes['none']) | set(mixes['count'])}
                print('   the count adds:', ', '.join(f'{op} {d:+d}' for op, d in sorted(diff.items(), key=lambda x: -abs(x[1])) if d)[:400])
