"""Writes the reference data of tests/.../Vision: run with a Python that has Pillow (Debian 12: python3-pil, Pillow 9.4.0).

    /usr/bin/python3 make_fixtures.py            # in this folder

Outputs (all deterministic):
  cpython_set_order.txt  iteration order of InternVL's candidate-grid set, straight from this interpreter's set()
  pil_reference.json     Pillow's bicubic resizes, InternVL's dynamic_preprocess tiles and decoded RGB bytes
  *.png, *.jpg           small encoded images (written by Pillow) whose decoded RGB bytes are in pil_reference.json
"""
import base64
import json
import platform
import random

import PIL
from PIL import Image


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode('ascii')


# ---- 1. CPython's iteration order of InternVL's target_ratios set -------------------------------------------
def internvl_set(min_num, max_num):
    # The expression of internvl_chat/internvl/train/dataset.py (dynamic_preprocess), unsorted.
    return set((i, j) for n in range(min_num, max_num + 1) for i in range(1, n + 1) for j in range(1, n + 1)
               if i * j <= max_num and i * j >= min_num)


pairs = [(mn, mx) for mx in range(1, 25) for mn in range(1, mx + 1)]
pairs += [(mn, mx) for mx in range(25, 49) for mn in range(1, 5)]
pairs += [(1, 64), (1, 100), (3, 100), (7, 90)]
with open('cpython_set_order.txt', 'w') as f:
    f.write(f'# CPython {platform.python_version()} ({platform.architecture()[0]}): iteration order of InternVL\'s candidate set.\n')
    f.write('# min max | cols,rows cols,rows ... (the set as iterated, before the stable sort by cols*rows)\n')
    for mn, mx in pairs:
        f.write(f'{mn} {mx} | ' + ' '.join(f'{c},{r}' for c, r in internvl_set(mn, mx)) + '\n')


# ---- 2. InternVL's dynamic_preprocess (same control flow as upstream) --------------------------------------
def find_closest_aspect_ratio(aspect_ratio, target_ratios, width, height, image_size):
    best_ratio_diff = float('inf')
    best_ratio = (1, 1)
    area = width * height
    for ratio in target_ratios:
        target_aspect_ratio = ratio[0] / ratio[1]
        ratio_diff = abs(aspect_ratio - target_aspect_ratio)
        if ratio_diff < best_ratio_diff:
            best_ratio_diff = ratio_diff
            best_ratio = ratio
        elif ratio_diff == best_ratio_diff:
            if area > 0.5 * image_size * image_size * ratio[0] * ratio[1]:
                best_ratio = ratio
    return best_ratio


def dynamic_preprocess(image, min_num, max_num, image_size, use_thumbnail):
    orig_width, orig_height = image.size
    aspect_ratio = orig_width / orig_height
    target_ratios = sorted(internvl_set(min_num, max_num), key=lambda x: x[0] * x[1])
    target = find_closest_aspect_ratio(aspect_ratio, target_ratios, orig_width, orig_height, image_size)
    target_width = image_size * target[0]
    target_height = image_size * target[1]
    blocks = target[0] * target[1]
    resized_img = image.resize((target_width, target_height))
    tiles = []
    for i in range(blocks):
        cols = target_width // image_size
        box = ((i % cols) * image_size, (i // cols) * image_size,
               ((i % cols) + 1) * image_size, ((i // cols) + 1) * image_size)
        tiles.append(resized_img.crop(box))
    if use_thumbnail and len(tiles) != 1:
        tiles.append(image.resize((image_size, image_size)))
    return target, tiles


# ---- 3. Source images ---------------------------------------------------------------------------------------
rng = random.Random(20240611)


def noise(w, h):
    im = Image.new('RGB', (w, h))
    im.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(w * h)])
    return im


def smooth(w, h):
    # gradients with a little noise: a "photo-like" image, mostly away from the clipping limits
    im = Image.new('RGB', (w, h))
    im.putdata([((x * 255) // max(1, w - 1), (y * 255) // max(1, h - 1),
                 min(255, max(0, 128 + ((x * y) % 37) - 18 + rng.randrange(-20, 21))))
                for y in range(h) for x in range(w)])
    return im


def from_rows(rows):
    h, w = len(rows), len(rows[0])
    im = Image.new('RGB', (w, h))
    im.putdata([tuple(p) for row in rows for p in row])
    return im


sources = {
    'noise37x23': noise(37, 23),
    'smooth150x100': smooth(150, 100),
    'smooth61x203': smooth(61, 203),
    'tiny4x4': from_rows([[(10 * (x + 4 * y), 200 - 12 * (x + 4 * y), 255 * ((x + y) % 2)) for x in range(4)] for y in range(4)]),
    'tiny2x2': from_rows([[(0, 255, 40), (255, 0, 90)], [(30, 60, 250), (200, 200, 0)]]),
    'one1x1': from_rows([[(17, 130, 240)]]),
}

resize_cases = []
for name, sizes in [
    ('noise37x23', [(16, 10), (5, 3), (74, 46), (100, 23), (37, 60), (13, 50), (1, 1), (37, 23), (36, 23), (37, 22), (111, 7)]),
    ('smooth150x100', [(56, 56), (300, 7), (149, 101)]),
    ('tiny4x4', [(2, 2), (4, 2), (2, 4), (3, 3)]),
    ('tiny2x2', [(4, 4), (4, 2), (1, 1), (3, 5)]),
    ('one1x1', [(4, 4), (3, 1)]),
]:
    for w, h in sizes:
        out = sources[name].resize((w, h), Image.BICUBIC)
        assert out.tobytes() == sources[name].resize((w, h)).tobytes()  # the default filter is BICUBIC for RGB
        resize_cases.append({'source': name, 'width': w, 'height': h, 'rgb': b64(out.tobytes())})

dynamic_cases = []
for name, mn, mx, size, thumb in [
    ('smooth150x100', 1, 6, 28, True),
    ('smooth150x100', 1, 12, 56, False),
    ('smooth61x203', 1, 12, 28, True),
    ('noise37x23', 2, 4, 16, True),
    ('noise37x23', 1, 1, 16, True),
]:
    (cols, rows), tiles = dynamic_preprocess(sources[name], mn, mx, size, thumb)
    dynamic_cases.append({'source': name, 'min_num': mn, 'max_num': mx, 'image_size': size, 'use_thumbnail': thumb,
                          'cols': cols, 'rows': rows, 'tiles': [b64(t.tobytes()) for t in tiles]})


# ---- 4. Encoded files and what Pillow decodes them to (Image.open(p).convert('RGB'), as InternVL loads) ---------
def save(im, name, **kw):
    im.save(name, **kw)
    return {'file': name, 'mode': Image.open(name).mode, 'width': im.size[0], 'height': im.size[1],
            'rgb': b64(Image.open(name).convert('RGB').tobytes())}


base = smooth(40, 30)
rgba = base.convert('RGBA')
rgba.putalpha(Image.linear_gradient('L').resize((40, 30)))  # every alpha from 0 to 255: semi-transparent pixels
la = base.convert('LA')
la.putalpha(Image.linear_gradient('L').rotate(90).resize((40, 30)))
pal = base.quantize(16)
pal.info['transparency'] = 3
decode_cases = [
    save(base, 'rgb.png'),
    save(rgba, 'rgba.png'),
    save(base.convert('L'), 'gray.png'),
    save(la, 'gray_alpha.png'),
    save(pal, 'palette.png', transparency=3),
    save(base, 'rgb_q90.jpg', quality=90),
    save(base, 'rgb_q75_444.jpg', quality=75, subsampling=0),
    save(base, 'rgb_progressive.jpg', quality=85, progressive=True),
    save(base.convert('L'), 'gray.jpg', quality=90),
]

with open('pil_reference.json', 'w') as f:
    json.dump({
        'meta': {
            'made_by': 'make_fixtures.py',
            'python': platform.python_version(),
            'pillow': PIL.__version__,
            'rgb': 'base64 of Image.tobytes() for mode RGB: rows top to bottom, R G B per pixel',
        },
        'sources': {k: {'width': v.size[0], 'height': v.size[1], 'rgb': b64(v.tobytes())} for k, v in sources.items()},
        'resize': resize_cases,
        'dynamic_preprocess': dynamic_cases,
        'decode': decode_cases,
    }, f, indent=1)
print('ok', PIL.__version__, platform.python_version())
