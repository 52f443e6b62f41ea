OK_FORMAT = True

test = {   'name': 'q3',
    'points': 8,
    'suites': [   {   'cases': [   {   'code': ">>> assert count_parameters(nn.Linear(3, 4)) == 16, 'nn.Linear(3, 4) has 3*4 weights + 4 biases = 16 parameters'\n"
                                               ">>> assert estimate_dit_params(1152, 28) == 18 * 1152 ** 2 * 28, 'the estimate is 18 * d^2 * N'\n",
                                       'hidden': False,
                                       'locked': False},
                                   {   'code': ">>> assert exact_dit_params(28, 1152, 2) == 749826464, f'DiT-XL/2 in diffusers has 749,826,464 parameters, got {exact_dit_params(28, 1152, 2):,}'\n",
                                       'hidden': False,
                                       'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
