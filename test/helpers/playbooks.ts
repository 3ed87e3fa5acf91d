// Playbooks the job tests run on localhost.

/** A playbook of several tasks: a loop of three debug items, then a command. */
export const SITE = `- hosts: all
  gather_facts: false
  tasks:
    - name: greet
      debug: msg="item {{ item }}"
      loop: [1, 2, 3]
    - name: touch
      command: echo hi
`;
