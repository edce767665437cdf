# stage2-float64-reference.py — an independent float64 reference of the ConDSeg stage-2 training step
# (the network, losses and training step as docs/architecture.md describes them), written in JAX, used to show how far the PyTorch fixture
# tiny-stage2-step.safetensors (float32) is from the exact gradient (Tests/CondSegTrainTests/FixtureStepTests.swift
# quotes its figures). A side tool, not run by the test suite.
# Needs: pip install jax numpy.
# Usage: python3 scripts/stage2-float64-reference.py   (reads Tests/Fixtures; writes /tmp/stage2-grads.npz)
import os
import json, struct, sys, numpy as np
import jax, jax.numpy as jnp
from jax import lax

def load(path):
    f = open(path, 'rb'); n = struct.unpack('<Q', f.read(8))[0]; h = json.loads(f.read(n)); data = f.read()
    out = {}
    for k, v in h.items():
        if k == '__metadata__': continue
        dt = {'F32': np.float32, 'I64': np.int64}[v['dtype']]
        a, b = v['data_offsets']
        out[k] = np.frombuffer(data[a:b], dtype=dt).reshape(v['shape'])
    return out

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'Tests', 'Fixtures')
W = load(os.path.join(ROOT, 'reference', 'tiny-weights.safetensors'))
S = load(os.path.join(ROOT, 'train', 'tiny-stage2-step.safetensors'))
WIDTH, HEADS, K = 16, 4, 3

def conv(x, w, stride=1, pad=0, dil=1, b=None):
    y = lax.conv_general_dilated(x, w, (stride, stride), [(pad, pad), (pad, pad)], rhs_dilation=(dil, dil),
                                 dimension_numbers=('NCHW', 'OIHW', 'NCHW'), precision=lax.Precision.HIGHEST)
    if b is not None: y = y + b[None, :, None, None]
    return y

def bn(x, P, p):
    m = x.mean(axis=(0, 2, 3), keepdims=True)
    v = ((x - m) ** 2).mean(axis=(0, 2, 3), keepdims=True)
    return (x - m) / jnp.sqrt(v + 1e-5) * P[p + '.weight'][None, :, None, None] + P[p + '.bias'][None, :, None, None]

def cbr(x, P, p, k, pad=None, dil=1, act=True):
    pad = (k // 2) * dil if pad is None else pad
    y = bn(conv(x, P[p + '.conv.0.weight'], 1, pad, dil), P, p + '.conv.1')
    return jax.nn.relu(y) if act else y

def up_axis(x, axis, s):
    n = x.shape[axis]; o = n * s
    src = np.arange(o, dtype=np.float64) * (n - 1) / (o - 1)
    i0 = np.floor(src).astype(int); i1 = np.minimum(i0 + 1, n - 1); l = src - i0
    l = jnp.asarray(l, dtype=x.dtype)
    shape = [1] * x.ndim; shape[axis] = o; l = l.reshape(shape)
    return jnp.take(x, i0, axis=axis) * (1 - l) + jnp.take(x, i1, axis=axis) * l

def up(x, s): return up_axis(up_axis(x, 2, s), 3, s)

def ca(x, P, p):
    a = x.mean(axis=(2, 3), keepdims=True); m = x.max(axis=(2, 3), keepdims=True)
    f = lambda z: conv(jax.nn.relu(conv(z, P[p + '.fc1.weight'])), P[p + '.fc2.weight'])
    return x * jax.nn.sigmoid(f(a) + f(m))

def sa(x, P, p):
    s = jnp.concatenate([x.mean(axis=1, keepdims=True), x.max(axis=1, keepdims=True)], axis=1)
    return x * jax.nn.sigmoid(conv(s, P[p + '.conv1.weight'], 1, 3))

def basic(x, P, p, stride):
    y = jax.nn.relu(bn(conv(x, P[p + '.conv1.weight'], stride, 1), P, p + '.bn1'))
    y = bn(conv(y, P[p + '.conv2.weight'], 1, 1), P, p + '.bn2')
    sc = bn(conv(x, P[p + '.downsample.0.weight'], stride, 0), P, p + '.downsample.1') if p + '.downsample.0.weight' in P else x
    return jax.nn.relu(y + sc)

def dconv(x, P, p):
    c1 = ca(cbr(x, P, p + '.c1.0', 1), P, p + '.c1.1')
    cs = [c1] + [ca(cbr(x, P, p + f'.c{i}.0', 3, dil=d), P, p + f'.c{i}.1') for i, d in [(2, 6), (3, 12), (4, 18)]]
    y = jax.nn.relu(cbr(jnp.concatenate(cs, 1), P, p + '.c5', 3, act=False) + cbr(x, P, p + '.c6', 1, act=False))
    return sa(y, P, p + '.sa')

def linear(x, P, p):  # per pixel, NCHW
    return jnp.einsum('oc,nchw->nohw', P[p + '.weight'], x, precision='highest') + P[p + '.bias'][None, :, None, None]

OFFS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
def shift(x, dy, dx):  # out[p] = x[p + off] (zero outside)
    H, Wd = x.shape[2], x.shape[3]
    xp = jnp.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    return xp[:, :, 1 + dy:1 + dy + H, 1 + dx:1 + dx + Wd]

def attend(v, logits):
    N, C, H, Wd = v.shape; hd = C // HEADS
    a = logits.reshape(N, HEADS, 9, 9, H, Wd) * (hd ** -0.5)
    a = jax.nn.softmax(a, axis=3)
    Vj = jnp.stack([shift(v, dy, dx) for dy, dx in OFFS], 1).reshape(N, 9, HEADS, hd, H, Wd)  # [n, j, h, c, p]
    o = jnp.einsum('nhijyx,njhcyx->nihcyx', a, Vj, precision='highest').reshape(N, 9, C, H, Wd)
    y = 0
    for i, (dy, dx) in enumerate(OFFS):
        y = y + shift(o[:, i], -dy, -dx)   # y[q] += o[q - off_i, i]
    return y

def cdfa(x, fg, bg, P, p):
    x = cbr(cbr(x, P, p + '.input_cbr.0', 3), P, p + '.input_cbr.1', 3)
    v = linear(x, P, p + '.v')
    y = linear(attend(v, linear(fg, P, p + '.attn_fg')), P, p + '.proj')
    y = linear(attend(y, linear(bg, P, p + '.attn_bg')), P, p + '.proj')
    return cbr(cbr(y, P, p + '.output_cbr.0', 3), P, p + '.output_cbr.1', 3)

def preprocess(x, P, p, s):
    y = cbr(x, P, p + '.c1', 3)
    for i in range(int(np.log2(s))):
        y = cbr(up(y, 2), P, p + f'.preprocess.conv_{i}', 3)
    return y

def decoder(x, skip, P, p):
    x = cbr(jnp.concatenate([up(x, 2), skip], 1), P, p + '.c1', 1); s1 = x
    x = jax.nn.relu(cbr(x, P, p + '.c2', 3, act=False) + s1); s2 = x
    x = jax.nn.relu(cbr(x, P, p + '.c3', 3, act=False) + s2 + s1); s3 = x
    x = jax.nn.relu(cbr(x, P, p + '.c4', 1, act=False) + s3 + s2 + s1)
    return sa(ca(x, P, p + '.ca'), P, p + '.sa')

def aux(x, P, p):
    for i in (0, 2, 4, 6, 8):
        x = cbr(x, P, f'{p}.{i}', 3)
        if i < 8: x = up(x, 2)
    return jax.nn.sigmoid(conv(x, P[p + '.9.weight'], b=P[p + '.9.bias']))

def forward(P, img):
    x1 = jax.nn.relu(bn(conv(img, P['layer0.0.weight'], 2, 3), P, 'layer0.1'))
    x = lax.reduce_window(x1, -jnp.inf, lax.max, (1, 1, 3, 3), (1, 1, 2, 2), [(0, 0), (0, 0), (1, 1), (1, 1)])
    x2 = basic(basic(x, P, 'layer1.1.0', 1), P, 'layer1.1.1', 1)
    x3 = basic(basic(x2, P, 'layer2.0', 2), P, 'layer2.1', 1)
    x4 = basic(basic(x3, P, 'layer3.0', 2), P, 'layer3.1', 1)
    d = [dconv(xi, P, f'dconv{i+1}') for i, xi in enumerate([x1, x2, x3, x4])]
    br = lambda b: cbr(cbr(cbr(x4, P, f'decouple_layer.cbr_{b}.0', 3), P, f'decouple_layer.cbr_{b}.1', 3), P, f'decouple_layer.cbr_{b}.2', 1)
    ffg, fbg, fuc = br('fg'), br('bg'), br('uc')
    mfg, mbg, muc = aux(ffg, P, 'aux_head.branch_fg'), aux(fbg, P, 'aux_head.branch_bg'), aux(fuc, P, 'aux_head.branch_uc')
    gf = [preprocess(ffg, P, f'preprocess_fg{l+1}', s) for l, s in enumerate([8, 4, 2, 1])]
    gb = [preprocess(fbg, P, f'preprocess_bg{l+1}', s) for l, s in enumerate([8, 4, 2, 1])]
    f4 = cdfa(d[3], gf[3], gb[3], P, 'cdfa4')
    f3 = cdfa(jnp.concatenate([d[2], up(f4, 2)], 1), gf[2], gb[2], P, 'cdfa3')
    f2 = cdfa(jnp.concatenate([d[1], up(f3, 2)], 1), gf[1], gb[1], P, 'cdfa2')
    f1 = cdfa(jnp.concatenate([d[0], up(f2, 2)], 1), gf[0], gb[0], P, 'cdfa1')
    small, middle, large = decoder(f2, f1, P, 'decoder_small'), decoder(f3, f2, P, 'decoder_middle'), decoder(f4, f3, P, 'decoder_large')
    x = jnp.concatenate([small, up(middle, 2), up(large, 4)], 1)
    x = up(cbr(x, P, 'output_block.fuse', 3), 2)
    x = cbr(cbr(x, P, 'output_block.c1', 3), P, 'output_block.c2', 1)
    mask = jax.nn.sigmoid(conv(x, P['output_block.c3.weight'], b=P['output_block.c3.bias']))
    return mask, mfg, mbg, muc

def bce(p, y):
    return -jnp.mean(y * jnp.maximum(jnp.log(p), -100) + (1 - y) * jnp.maximum(jnp.log(1 - p), -100))
def lbd(p, y):
    return bce(p, y) + 1 - (2 * jnp.sum(p * y) + 1) / (jnp.sum(p) + jnp.sum(y) + 1)

def loss(P, img, Y):
    mask, mfg, mbg, muc = forward(P, img)
    HW = Y.shape[2] * Y.shape[3]
    b1 = 1 / (jnp.tanh(jnp.sum(mfg) / HW) + 1e-15); b2 = 1 / (jnp.tanh(jnp.sum(mbg) / HW) + 1e-15)
    pr = jax.nn.softmax(jnp.stack([mfg, mbg, muc]), axis=0)
    comp = jnp.sum(pr[0] * pr[1] + pr[0] * pr[2] + pr[1] * pr[2]) / Y.size
    lm, lf, lb = lbd(mask, Y), lbd(mfg, Y), lbd(mbg, 1 - Y)
    total = lm + b1 * lf + b2 * lb + comp
    return total, dict(loss=total, loss_mask=lm, loss_fg=lf, loss_bg=lb, loss_comp=comp, beta1=b1, beta2=b2, mask=mask)

def run(dtype, P0=None):
    P = {k: jnp.asarray(v, dtype) for k, v in W.items() if v.dtype == np.float32} if P0 is None else P0
    img, Y = jnp.asarray(S['input_bgr'], dtype), jnp.asarray(S['target'], dtype)
    (l, aux_), g = jax.jit(jax.value_and_grad(loss, has_aux=True))(P, img, Y)
    return {k: np.asarray(v, np.float64) for k, v in aux_.items()}, {k: np.asarray(v, np.float64) for k, v in g.items()}

if __name__ == '__main__':
    jax.config.update('jax_enable_x64', True)
    t64, g64 = run(jnp.float64)
    t32, g32 = run(jnp.float32)
    for k in ['loss', 'loss_mask', 'loss_fg', 'loss_bg', 'loss_comp', 'beta1', 'beta2']:
        e = float(S[k][0]); print(f'{k:10s} fixture {e:.7g} f64 {float(t64[k]):.7g} rel {abs(float(t64[k]) - e) / abs(e):.2e}')
    print('mask max abs diff f64 vs fixture', np.abs(t64['mask'] - S['mask']).max(), ' f32 vs f64', np.abs(t32['mask'] - t64['mask']).max())
    np.savez('/tmp/stage2-grads.npz', **{'f64.' + k: v for k, v in g64.items()}, **{'f32.' + k: v for k, v in g32.items()})
    print(f"{'param':50s} fixture-vs-f64  jaxf32-vs-f64")
    for key in sorted(k for k in S if k.startswith('grad.')):
        n = key[5:]; e = S[key].astype(np.float64); r = g64[n]
        m = np.abs(r).max()
        print(f'{n:50s} {np.abs(e - r).max() / m:.3e}  {np.abs(g32[n] - r).max() / m:.3e}')
