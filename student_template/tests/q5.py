OK_FORMAT = True

test = {   'name': 'q5',
    'points': 8,
    'suites': [   {   'cases': [   {   'code': '>>> _c, _u = (torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8))\n'
                                               ">>> assert torch.allclose(cfg_combine(_c, _u, 1.0), _c, atol=1e-06), 'guidance scale 1 should give the conditional prediction'\n"
                                               ">>> assert torch.allclose(cfg_combine(_c, _u, 0.0), _u, atol=1e-06), 'guidance scale 0 should give the unconditional prediction'\n"
                                               ">>> assert torch.allclose(cfg_combine(_c, _u, 4.0), _u + 4.0 * (_c - _u), atol=1e-05), 'cfg_combine should be eps_uncond + scale * (eps_cond - "
                                               "eps_uncond)'\n",
                                       'hidden': False,
                                       'locked': False},
                                   {   'code': '>>> _pipe = make_tiny_dit_pipeline()\n'
                                               '>>> _a = generate(_pipe, [1, 2], guidance_scale=4.0, num_inference_steps=3, seed=7)\n'
                                               '>>> _b = generate(_pipe, [1, 2], guidance_scale=4.0, num_inference_steps=3, seed=7)\n'
                                               ">>> assert isinstance(_a, np.ndarray) and _a.dtype == np.uint8, 'generate should return a uint8 numpy array, got {} {}'.format(type(_a).__name__, "
                                               "getattr(_a, 'dtype', ''))\n"
                                               ">>> assert _a.shape == (2, 16, 16, 3), f'expected shape (2, 16, 16, 3) for two labels, got {_a.shape}'\n"
                                               ">>> assert np.array_equal(_a, _b), 'the same seed should give identical images'\n",
                                       'hidden': False,
                                       'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
