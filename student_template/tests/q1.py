OK_FORMAT = True

test = {   'name': 'q1',
    'points': 10,
    'suites': [   {   'cases': [   {   'code': '>>> _z = torch.randn(2, 4, 32, 32)\n'
                                               '>>> _t = patchify(_z, 2)\n'
                                               ">>> assert tuple(_t.shape) == (2, 256, 16), f'patchify([2, 4, 32, 32], p=2) should have shape (2, 256, 16), got {tuple(_t.shape)}'\n",
                                       'hidden': False,
                                       'locked': False},
                                   {   'code': '>>> _z = torch.randn(3, 4, 8, 12)\n'
                                               '>>> _back = unpatchify(patchify(_z, 4), 4, 4, 8, 12)\n'
                                               ">>> assert tuple(_back.shape) == (3, 4, 8, 12), f'unpatchify should give (3, 4, 8, 12), got {tuple(_back.shape)}'\n"
                                               ">>> assert torch.equal(_back, _z), 'unpatchify(patchify(z)) should give back z exactly (non-square latent, p=4)'\n",
                                       'hidden': False,
                                       'locked': False},
                                   {   'code': '>>> _z = torch.arange(2 * 4 * 4, dtype=torch.float32).reshape(1, 2, 4, 4)\n'
                                               '>>> _t = patchify(_z, 2)\n'
                                               ">>> assert _t[0, 1].tolist() == [2.0, 3.0, 6.0, 7.0, 18.0, 19.0, 22.0, 23.0], f'token 1 of a [1, 2, 4, 4] arange latent with p=2 is {_t[0, "
                                               "1].tolist()}'\n",
                                       'hidden': False,
                                       'locked': False},
                                   {   'code': '>>> try:\n'
                                               '...     patchify(torch.randn(1, 4, 30, 32), 4)\n'
                                               '... except ValueError:\n'
                                               '...     pass\n'
                                               '... else:\n'
                                               "...     raise AssertionError('patchify should raise ValueError when H=30 is not divisible by p=4')\n"
                                               '>>> assert sequence_length(32, 32, 2) == 256 and sequence_length(64, 32, 4) == 128\n',
                                       'hidden': False,
                                       'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
