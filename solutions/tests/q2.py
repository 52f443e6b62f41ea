OK_FORMAT = True

test = {   'name': 'q2',
    'points': 12,
    'suites': [   {   'cases': [   {   'code': '>>> _x, _s, _b = (torch.randn(2, 3, 4), torch.randn(2, 4), torch.randn(2, 4))\n'
                                               ">>> assert torch.allclose(modulate(_x, _b, _s), _x * (1 + _s[:, None]) + _b[:, None], atol=1e-06), 'modulate should be x * (1 + scale) + shift, per "
                                               "sample'\n"
                                               ">>> assert torch.allclose(gated_residual(_x, _s, _x), _x + _s[:, None] * _x, atol=1e-06), 'gated_residual should be x + gate * sublayer_out, per "
                                               "sample'\n",
                                       'hidden': False,
                                       'locked': False},
                                   {   'code': '>>> _ada = AdaLNZero(8, 5)\n'
                                               '>>> _out = _ada(torch.randn(3, 8))\n'
                                               ">>> assert isinstance(_out, tuple) and len(_out) == 6, f'AdaLNZero should return a tuple of six tensors, got {type(_out).__name__}'\n"
                                               ">>> assert all((tuple(o.shape) == (3, 5) for o in _out)), f'each of the six should be [B, d_model] = (3, 5), got {[tuple(o.shape) for o in _out]}'\n"
                                               ">>> assert all((float(o.detach().abs().max()) == 0.0 for o in _out)), 'at initialisation all six should be exactly zero'\n",
                                       'hidden': False,
                                       'locked': False},
                                   {   'code': '>>> _blk = DiTBlock(16, 2)\n'
                                               '>>> _x = torch.randn(3, 5, 16)\n'
                                               ">>> assert torch.equal(_blk(_x, torch.randn(3, 16)), _x), 'a freshly built DiTBlock should return its input unchanged (all gates are zero)'\n",
                                       'hidden': False,
                                       'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
